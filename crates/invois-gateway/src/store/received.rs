//! Received documents: what other taxpayers issued TO the gateway's taxpayer, as Search
//! Documents (direction `Received`) listed them, with the ERP's decision on each and the
//! sweep's progress.
//!
//! Rows are keyed by MyInvois uuid, so overlapping searches only update them. Each change
//! worth announcing (a new document, a rejection, a supplier's cancellation) writes a
//! `received_events` row in the same transaction; the webhook relay turns each into exactly
//! one delivery, as it does for document events ([`Received::relay`]).

use std::fmt;

use chrono::{DateTime, Utc};
use invois_api::DocumentStatus;
use invois_api::documents::ListedDocument;
use invois_api::windows::REJECTION_WINDOW;
use invois_clock::Clock;

use super::Announcement;
use super::convert::{clamp_limit, corrupt, now, parse_state, truncate};
use super::dialect::{Conn, Sql};
use super::documents::records;
use super::{Db, StoreError};

/// A received document as Search Documents listed it (the latest listing seen).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedListing {
    /// The MyInvois uuid (unique).
    pub uuid: String,
    /// The supplier's submission.
    pub submission_uid: String,
    /// The long id (for the validation link), once valid.
    pub long_id: Option<String>,
    /// The supplier's number for it.
    pub internal_id: String,
    /// `Invoice`, `Credit Note`, ...
    pub type_name: String,
    /// `1.0`, `1.1`, ...
    pub type_version: String,
    /// The supplier's (issuer's) TIN.
    pub issuer_tin: String,
    /// The supplier's name, if listed.
    pub issuer_name: Option<String>,
    /// The buyer's (receiver's) TIN, if listed.
    pub receiver_tin: Option<String>,
    /// The buyer's name, if listed.
    pub receiver_name: Option<String>,
    /// MyInvois' status (a receiver sees `Valid` and `Cancelled`).
    pub status: DocumentStatus,
    /// When the supplier issued it.
    pub issued_at: DateTime<Utc>,
    /// When MyInvois received it.
    pub submitted_at: DateTime<Utc>,
    /// When MyInvois validated it: the rejection window starts here.
    pub validated_at: Option<DateTime<Utc>>,
    /// When the supplier cancelled it.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When a rejection was requested (through the gateway or the portal).
    pub reject_requested_at: Option<DateTime<Utc>>,
    /// The reason of a cancellation or rejection, as MyInvois lists it.
    pub status_reason: Option<String>,
    /// Total sales, as listed (decimal text, exact).
    pub total_sales: Option<String>,
    /// Total discount, as listed.
    pub total_discount: Option<String>,
    /// Net amount, as listed.
    pub net_amount: Option<String>,
    /// Total payable, as listed.
    pub total: Option<String>,
    /// The whole listing entry, as JSON text (kept as MyInvois said it).
    pub listing: String,
}

impl From<&ListedDocument> for ReceivedListing {
    fn from(d: &ListedDocument) -> ReceivedListing {
        ReceivedListing {
            uuid: d.uuid.clone(),
            submission_uid: d.submission_uid.clone(),
            long_id: d.long_id.clone().filter(|l| !l.is_empty()),
            internal_id: d.internal_id.clone(),
            type_name: d.type_name.clone(),
            type_version: d.type_version_name.clone(),
            issuer_tin: d.issuer_tin.clone(),
            issuer_name: d.issuer_name.clone().or_else(|| d.supplier_name.clone()),
            receiver_tin: d.buyer_tin.clone().or_else(|| d.receiver_id.clone()),
            receiver_name: d.buyer_name.clone().or_else(|| d.receiver_name.clone()),
            status: d.status,
            issued_at: d.date_time_issued,
            submitted_at: d.date_time_received,
            validated_at: d.date_time_validated,
            cancelled_at: d.cancel_date_time,
            reject_requested_at: d.reject_request_date_time,
            status_reason: d.document_status_reason.clone(),
            total_sales: d.total_sales.map(|v| v.to_string()),
            total_discount: d.total_discount.map(|v| v.to_string()),
            net_amount: d.net_amount.map(|v| v.to_string()),
            total: d.total.map(|v| v.to_string()),
            // A listing of strings, numbers and dates always serialises.
            listing: serde_json::to_string(d).unwrap_or_default(),
        }
    }
}

impl ReceivedListing {
    /// The last moment MyInvois accepts a rejection: validation plus the rejection window.
    pub fn reject_deadline(&self) -> Option<DateTime<Utc>> {
        self.validated_at.map(|v| truncate(v + REJECTION_WINDOW))
    }
}

/// The ERP's decision on a received document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Accepted: recorded in the gateway only (MyInvois has no acceptance call; a document
    /// not rejected within the window simply stands).
    Accepted,
    /// Rejected: MyInvois was asked (by the gateway or in the portal) and recorded the
    /// request; the document stays `Valid` until its supplier cancels it.
    Rejected,
}

impl Decision {
    /// The stored and API spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Rejected => "rejected",
        }
    }

    /// Parses [`Decision::as_str`].
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "accepted" => Some(Decision::Accepted),
            "rejected" => Some(Decision::Rejected),
            _ => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored received document.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRecord {
    /// Row id (increasing; page with it).
    pub id: i64,
    /// What MyInvois listed last.
    pub document: ReceivedListing,
    /// Validation plus the rejection window; `None` if MyInvois gave no validation time.
    pub reject_deadline: Option<DateTime<Utc>>,
    /// The ERP's decision, if any.
    pub decision: Option<Decision>,
    /// Why it was rejected.
    pub decision_reason: Option<String>,
    /// When the decision was recorded (or, for a rejection seen in a listing, requested).
    pub decided_at: Option<DateTime<Utc>>,
    /// When the gateway first found it (store clock).
    pub first_seen_at: DateTime<Utc>,
    /// When its row last changed.
    pub updated_at: DateTime<Utc>,
}

/// What happened to a received document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceivedEventKind {
    /// The gateway found it.
    Received,
    /// A rejection was requested (by the ERP through the gateway, or in the portal).
    Rejected,
    /// Its supplier cancelled it.
    Cancelled,
}

impl ReceivedEventKind {
    /// The stored spelling (the webhook's event names are the webhooks module's).
    pub const fn as_str(self) -> &'static str {
        match self {
            ReceivedEventKind::Received => "received",
            ReceivedEventKind::Rejected => "rejected",
            ReceivedEventKind::Cancelled => "cancelled",
        }
    }

    /// Parses [`ReceivedEventKind::as_str`].
    pub fn parse(s: &str) -> Option<ReceivedEventKind> {
        match s {
            "received" => Some(ReceivedEventKind::Received),
            "rejected" => Some(ReceivedEventKind::Rejected),
            "cancelled" => Some(ReceivedEventKind::Cancelled),
            _ => None,
        }
    }
}

/// One `received_events` row.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// Its id: a sequence of its own, apart from document events' ids.
    pub id: i64,
    /// The received document's row id.
    pub received_id: i64,
    /// What happened.
    pub kind: ReceivedEventKind,
    /// When it was recorded (store clock).
    pub created_at: DateTime<Utc>,
}

/// What [`Received::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivedUpsert {
    /// A new row (and a `received` event).
    Inserted,
    /// The listing changed (a cancellation, a rejection seen in the portal...): updated.
    Updated,
    /// The same listing was already stored.
    Unchanged,
}

/// Which decision a list asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionFilter {
    /// No decision yet.
    Pending,
    /// Only this decision.
    Is(Decision),
}

/// A filter for [`Received::list`], oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedFilter {
    /// Only from this supplier.
    pub issuer_tin: Option<String>,
    /// Only in this MyInvois status.
    pub status: Option<DocumentStatus>,
    /// Only with this decision.
    pub decision: Option<DecisionFilter>,
    /// Only those still awaiting a decision that can still be rejected: `Valid`, no
    /// decision, deadline not passed (store clock).
    pub open: bool,
    /// Only ids greater than this (the previous page's `next`).
    pub after: Option<i64>,
    /// At most this many (0 means 100; capped at 1,000).
    pub limit: u32,
}

/// One page of received documents.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedPage {
    /// Oldest first.
    pub items: Vec<ReceivedRecord>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

/// How far the sweep for one login got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivedSync {
    /// The end of the last completed search (submission dates).
    pub searched_to: Option<DateTime<Utc>>,
    /// The creation time of the newest notification looked at.
    pub notified_to: Option<DateTime<Utc>>,
    /// The ids of the notifications created at `notified_to` (times are whole seconds, so a
    /// later notification may share it).
    pub notified_ids: Vec<String>,
    /// When the next search is due even without a notification.
    pub next_sweep_at: Option<DateTime<Utc>>,
}

/// Builds the delivery for one received event (see
/// `crate::webhooks::announce_received`).
pub type AnnounceReceived = dyn Fn(&ReceivedEvent, &ReceivedRecord) -> Announcement + Send + Sync;

/// The columns of `received_documents`, as [`ReceivedRow`] reads them.
const COLS: &str = "id, uuid, submission_uid, long_id, internal_id, type_name, type_version, \
     issuer_tin, issuer_name, receiver_tin, receiver_name, status, issued_at, submitted_at, \
     validated_at, cancelled_at, reject_requested_at, status_reason, total_sales, \
     total_discount, net_amount, total, reject_deadline, decision, decision_reason, \
     decided_at, listing, first_seen_at, updated_at";

/// The listing's columns after `uuid`, in the order [`bind_listing`] binds them.
const LISTING_COLS: [&str; 22] = [
    "submission_uid",
    "long_id",
    "internal_id",
    "type_name",
    "type_version",
    "issuer_tin",
    "issuer_name",
    "receiver_tin",
    "receiver_name",
    "status",
    "issued_at",
    "submitted_at",
    "validated_at",
    "cancelled_at",
    "reject_requested_at",
    "status_reason",
    "total_sales",
    "total_discount",
    "net_amount",
    "total",
    "reject_deadline",
    "listing",
];

/// Binds the listing's values, in [`LISTING_COLS`] order.
fn bind_listing<'a>(sql: Sql<'a>, d: &'a ReceivedListing) -> Sql<'a> {
    sql.bind(&d.submission_uid)
        .bind(&d.long_id)
        .bind(&d.internal_id)
        .bind(&d.type_name)
        .bind(&d.type_version)
        .bind(&d.issuer_tin)
        .bind(&d.issuer_name)
        .bind(&d.receiver_tin)
        .bind(&d.receiver_name)
        .bind(d.status.as_str())
        .bind(truncate(d.issued_at))
        .bind(truncate(d.submitted_at))
        .bind(d.validated_at.map(truncate))
        .bind(d.cancelled_at.map(truncate))
        .bind(d.reject_requested_at.map(truncate))
        .bind(&d.status_reason)
        .bind(&d.total_sales)
        .bind(&d.total_discount)
        .bind(&d.net_amount)
        .bind(&d.total)
        .bind(d.reject_deadline())
        .bind(d.listing.as_str())
}

/// A `received_documents` row as stored.
#[derive(sqlx::FromRow)]
struct ReceivedRow {
    id: i64,
    uuid: String,
    submission_uid: String,
    long_id: Option<String>,
    internal_id: String,
    type_name: String,
    type_version: String,
    issuer_tin: String,
    issuer_name: Option<String>,
    receiver_tin: Option<String>,
    receiver_name: Option<String>,
    status: String,
    issued_at: DateTime<Utc>,
    submitted_at: DateTime<Utc>,
    validated_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    reject_requested_at: Option<DateTime<Utc>>,
    status_reason: Option<String>,
    total_sales: Option<String>,
    total_discount: Option<String>,
    net_amount: Option<String>,
    total: Option<String>,
    reject_deadline: Option<DateTime<Utc>>,
    decision: Option<String>,
    decision_reason: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    listing: String,
    first_seen_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ReceivedRow> for ReceivedRecord {
    type Error = StoreError;

    fn try_from(row: ReceivedRow) -> Result<ReceivedRecord, StoreError> {
        Ok(ReceivedRecord {
            id: row.id,
            document: ReceivedListing {
                uuid: row.uuid,
                submission_uid: row.submission_uid,
                long_id: row.long_id,
                internal_id: row.internal_id,
                type_name: row.type_name,
                type_version: row.type_version,
                issuer_tin: row.issuer_tin,
                issuer_name: row.issuer_name,
                receiver_tin: row.receiver_tin,
                receiver_name: row.receiver_name,
                status: parse_state("received status", &row.status, DocumentStatus::parse)?,
                issued_at: row.issued_at,
                submitted_at: row.submitted_at,
                validated_at: row.validated_at,
                cancelled_at: row.cancelled_at,
                reject_requested_at: row.reject_requested_at,
                status_reason: row.status_reason,
                total_sales: row.total_sales,
                total_discount: row.total_discount,
                net_amount: row.net_amount,
                total: row.total,
                listing: row.listing,
            },
            reject_deadline: row.reject_deadline,
            decision: row
                .decision
                .map(|d| parse_state("received decision", &d, Decision::parse))
                .transpose()?,
            decision_reason: row.decision_reason,
            decided_at: row.decided_at,
            first_seen_at: row.first_seen_at,
            updated_at: row.updated_at,
        })
    }
}

/// A `received_events` row as stored.
#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    received_id: i64,
    kind: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for ReceivedEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<ReceivedEvent, StoreError> {
        Ok(ReceivedEvent {
            id: row.id,
            received_id: row.received_id,
            kind: parse_state("received event", &row.kind, ReceivedEventKind::parse)?,
            created_at: row.created_at,
        })
    }
}

/// The sweep's progress row.
#[derive(sqlx::FromRow)]
struct SyncRow {
    searched_to: Option<DateTime<Utc>>,
    notified_to: Option<DateTime<Utc>>,
    notified_ids: Option<String>,
    next_sweep_at: Option<DateTime<Utc>>,
}

/// What a new listing of a stored document means: the events it brings.
fn changes(old: &ReceivedRecord, new: &ReceivedListing) -> Vec<ReceivedEventKind> {
    let mut kinds = Vec::new();
    // A rejection requested elsewhere (the portal), or one the gateway asked for but could
    // not record: MyInvois' word settles it.
    if new.reject_requested_at.is_some() && old.decision != Some(Decision::Rejected) {
        kinds.push(ReceivedEventKind::Rejected);
    }
    if new.status == DocumentStatus::Cancelled && old.document.status != DocumentStatus::Cancelled {
        kinds.push(ReceivedEventKind::Cancelled);
    }
    kinds
}

async fn emit(
    conn: &mut Conn<'_>,
    received_id: i64,
    kind: ReceivedEventKind,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql =
        Sql::new("INSERT INTO received_events (received_id, kind, created_at) VALUES ($1, $2, $3)")
            .bind(received_id)
            .bind(kind.as_str())
            .bind(now);
    conn.execute(sql).await?;
    Ok(())
}

/// The received-documents repository (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
}

impl Received<'_> {
    /// Records a listing by uuid: inserts it (with a `received` event), updates it when the
    /// listing changed (with a `rejected` event for a rejection requested outside the
    /// gateway, a `cancelled` one for a supplier's cancellation), or leaves it.
    #[tracing::instrument(skip_all)]
    pub async fn upsert(&self, doc: &ReceivedListing) -> Result<ReceivedUpsert, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let sql = Sql::new(format!(
            "SELECT {COLS} FROM received_documents WHERE uuid = $1"
        ))
        .bind(&doc.uuid);
        let stored: Option<ReceivedRow> = tx.conn().fetch_optional(sql).await?;
        let outcome = match stored {
            Some(row) if row.listing == doc.listing => ReceivedUpsert::Unchanged,
            Some(row) => {
                let old = ReceivedRecord::try_from(row)?;
                let sets: Vec<String> = LISTING_COLS
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = ${}", i + 1))
                    .collect();
                // Guarded by the listing read: a concurrent sweep that wrote first wins, and
                // this one writes nothing (so each change is announced once).
                let sql = Sql::new(format!(
                    "UPDATE received_documents SET {}, updated_at = $23 \
                     WHERE id = $24 AND listing = $25",
                    sets.join(", ")
                ));
                let sql = bind_listing(sql, doc)
                    .bind(now)
                    .bind(old.id)
                    .bind(old.document.listing.as_str());
                if tx.conn().execute(sql).await? == 0 {
                    ReceivedUpsert::Unchanged
                } else {
                    let kinds = changes(&old, doc);
                    if kinds.contains(&ReceivedEventKind::Rejected) {
                        let sql = Sql::new(
                            "UPDATE received_documents SET decision = 'rejected', \
                             decision_reason = $1, decided_at = $2 WHERE id = $3",
                        )
                        .bind(&doc.status_reason)
                        .bind(doc.reject_requested_at.map(truncate).unwrap_or(now))
                        .bind(old.id);
                        tx.conn().execute(sql).await?;
                    }
                    for kind in kinds {
                        emit(&mut tx.conn(), old.id, kind, now).await?;
                    }
                    ReceivedUpsert::Updated
                }
            }
            None => self.insert(&mut tx.conn(), doc, now).await?,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Inserts a new listing with its `received` event (and its decision, when it arrives
    /// already rejected in the portal).
    async fn insert(
        &self,
        conn: &mut Conn<'_>,
        doc: &ReceivedListing,
        now: DateTime<Utc>,
    ) -> Result<ReceivedUpsert, StoreError> {
        // uuid, the listing, the decision's three columns, and the time for both stamps.
        let last = LISTING_COLS.len() + 5;
        let params: Vec<String> = (1..=last).map(|i| format!("${i}")).collect();
        let sql = Sql::new(format!(
            "INSERT INTO received_documents (uuid, {}, decision, decision_reason, decided_at, \
             first_seen_at, updated_at) VALUES ({}, ${}) ON CONFLICT (uuid) DO NOTHING \
             RETURNING id",
            LISTING_COLS.join(", "),
            params.join(", "),
            last,
        ));
        let rejected = doc.reject_requested_at.is_some();
        let sql = bind_listing(sql.bind(&doc.uuid), doc)
            .bind(rejected.then_some(Decision::Rejected.as_str()))
            .bind(if rejected {
                doc.status_reason.clone()
            } else {
                None
            })
            .bind(doc.reject_requested_at.map(truncate))
            .bind(now);
        let Some((id,)) = conn.fetch_optional::<(i64,)>(sql).await? else {
            // Another sweep inserted it between our read and write; it announced it.
            return Ok(ReceivedUpsert::Unchanged);
        };
        emit(conn, id, ReceivedEventKind::Received, now).await?;
        Ok(ReceivedUpsert::Inserted)
    }

    /// One received document by uuid.
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, uuid: &str) -> Result<ReceivedRecord, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {COLS} FROM received_documents WHERE uuid = $1"
        ))
        .bind(uuid);
        match self.db.reader().fetch_optional::<ReceivedRow>(sql).await? {
            Some(row) => row.try_into(),
            None => Err(StoreError::NotFound(format!("received document {uuid}"))),
        }
    }

    /// Received documents matching a filter, in id order.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, filter: &ReceivedFilter) -> Result<ReceivedPage, StoreError> {
        let limit = clamp_limit(filter.limit, 100, 1_000);
        let decision = filter.decision.map(|d| match d {
            DecisionFilter::Pending => "pending",
            DecisionFilter::Is(d) => d.as_str(),
        });
        let sql = Sql::new(format!(
            "SELECT {COLS} FROM received_documents WHERE ($1 IS NULL OR issuer_tin = $1) \
             AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR COALESCE(decision, 'pending') = $3) \
             AND ($4 = 0 OR (decision IS NULL AND status = 'Valid' AND reject_deadline > $5)) \
             AND id > $6 ORDER BY id LIMIT $7"
        ))
        .bind(filter.issuer_tin.as_deref())
        .bind(filter.status.map(|s| s.as_str()))
        .bind(decision)
        .bind(i64::from(filter.open))
        .bind(now(self.clock))
        .bind(filter.after.unwrap_or(0))
        .bind(limit + 1);
        let mut items: Vec<ReceivedRecord> =
            records::<ReceivedRow, _>(self.db.reader().fetch_all(sql).await?)?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|d| d.id)
        } else {
            None
        };
        Ok(ReceivedPage { items, next })
    }

    /// Records the ERP's rejection, after MyInvois accepted the request: decision
    /// `rejected`, its reason and a `rejected` event. A document already rejected is left as
    /// it is (a repeated request).
    #[tracing::instrument(skip_all)]
    pub async fn record_rejection(
        &self,
        uuid: &str,
        reason: &str,
    ) -> Result<ReceivedRecord, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let sql = Sql::new(
            "UPDATE received_documents SET decision = 'rejected', decision_reason = $1, \
             decided_at = $2, reject_requested_at = COALESCE(reject_requested_at, $2), \
             updated_at = $2 WHERE uuid = $3 AND (decision IS NULL OR decision <> 'rejected') \
             RETURNING id",
        )
        .bind(reason)
        .bind(now)
        .bind(uuid);
        if let Some((id,)) = tx.conn().fetch_optional::<(i64,)>(sql).await? {
            emit(&mut tx.conn(), id, ReceivedEventKind::Rejected, now).await?;
        }
        tx.commit().await?;
        self.get(uuid).await
    }

    /// Records the ERP's acceptance (the gateway's record only: MyInvois has no acceptance
    /// call). Repeating it changes nothing; a rejected document is a
    /// [`StoreError::StaleTransition`].
    #[tracing::instrument(skip_all)]
    pub async fn record_acceptance(&self, uuid: &str) -> Result<ReceivedRecord, StoreError> {
        let now = now(self.clock);
        let sql = Sql::new(
            "UPDATE received_documents SET decision = 'accepted', decided_at = $1, \
             updated_at = $1 WHERE uuid = $2 AND decision IS NULL",
        )
        .bind(now)
        .bind(uuid);
        self.db.writer().execute(sql).await?;
        let record = self.get(uuid).await?;
        match record.decision {
            Some(Decision::Accepted) => Ok(record),
            other => Err(StoreError::StaleTransition {
                what: "received document",
                id: record.id,
                actual: other.map_or("undecided", Decision::as_str).to_owned(),
                action: "be accepted",
            }),
        }
    }

    /// A received document's events, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn events(&self, received_id: i64) -> Result<Vec<ReceivedEvent>, StoreError> {
        let sql = Sql::new(
            "SELECT id, received_id, kind, created_at FROM received_events \
             WHERE received_id = $1 ORDER BY id",
        )
        .bind(received_id);
        records::<EventRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// How far the sweep for `login` got (all `None` before the first sweep).
    #[tracing::instrument(skip_all)]
    pub async fn sync_state(&self, login: &str) -> Result<ReceivedSync, StoreError> {
        let sql = Sql::new(
            "SELECT searched_to, notified_to, notified_ids, next_sweep_at FROM received_sync \
             WHERE login = $1",
        )
        .bind(login);
        let Some(r) = self.db.reader().fetch_optional::<SyncRow>(sql).await? else {
            return Ok(ReceivedSync::default());
        };
        let notified_ids = match r.notified_ids {
            None => Vec::new(),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| corrupt("received_sync notified_ids", &e.to_string()))?,
        };
        Ok(ReceivedSync {
            searched_to: r.searched_to,
            notified_to: r.notified_to,
            notified_ids,
            next_sweep_at: r.next_sweep_at,
        })
    }

    /// Stores how far the sweep for `login` got.
    #[tracing::instrument(skip_all)]
    pub async fn save_sync(&self, login: &str, sync: &ReceivedSync) -> Result<(), StoreError> {
        let sql = Sql::new(
            "INSERT INTO received_sync (login, searched_to, notified_to, notified_ids, \
             next_sweep_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (login) DO UPDATE SET searched_to = excluded.searched_to, \
             notified_to = excluded.notified_to, notified_ids = excluded.notified_ids, \
             next_sweep_at = excluded.next_sweep_at, updated_at = excluded.updated_at",
        )
        .bind(login)
        .bind(sync.searched_to.map(truncate))
        .bind(sync.notified_to.map(truncate))
        // A list of strings always serialises.
        .bind(serde_json::to_string(&sync.notified_ids).ok())
        .bind(sync.next_sweep_at.map(truncate))
        .bind(now(self.clock));
        self.db.writer().execute(sql).await?;
        Ok(())
    }

    /// Turns up to `limit` received events not yet relayed into pending webhook deliveries
    /// (each as `announce` describes it), oldest first, exactly once each even with several
    /// instances relaying: like [`super::Outbox::relay`], under the same relay-row lock.
    /// Returns how many were relayed.
    #[tracing::instrument(skip_all)]
    pub async fn relay(
        &self,
        limit: u32,
        max_attempts: i64,
        announce: &AnnounceReceived,
    ) -> Result<u64, StoreError> {
        // A cheap read first, so an idle relay takes no write lock.
        let pending = Sql::new("SELECT id FROM received_events WHERE relayed_at IS NULL LIMIT 1");
        if !self.db.reader().exists(pending).await? {
            return Ok(0);
        }
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let lock = Sql::new("UPDATE webhook_relay SET updated_at = $1 WHERE id = 1").bind(now);
        tx.conn().execute(lock).await?;
        let sql = Sql::new(
            "SELECT id, received_id, kind, created_at FROM received_events \
             WHERE relayed_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(clamp_limit(limit, 100, 10_000));
        let events: Vec<ReceivedEvent> = records::<EventRow, _>(tx.conn().fetch_all(sql).await?)?;
        for event in &events {
            let sql = Sql::new(format!(
                "SELECT {COLS} FROM received_documents WHERE id = $1"
            ))
            .bind(event.received_id);
            let row: ReceivedRow = tx.conn().fetch_one(sql).await?;
            let Announcement {
                event: name,
                payload,
            } = announce(event, &row.try_into()?);
            let insert = Sql::new(
                "INSERT INTO webhook_deliveries (document_id, event, payload, state, attempts, \
                 max_attempts, next_attempt_at, created_at, updated_at, received_event_id) \
                 VALUES (NULL, $1, $2, 'pending', 0, $3, $4, $4, $4, $5)",
            )
            .bind(name)
            .bind(payload.to_string())
            .bind(max_attempts.max(1))
            .bind(now)
            .bind(event.id);
            tx.conn().execute(insert).await?;
            let mark = Sql::new("UPDATE received_events SET relayed_at = $1 WHERE id = $2")
                .bind(now)
                .bind(event.id);
            tx.conn().execute(mark).await?;
        }
        tx.commit().await?;
        Ok(events.len() as u64)
    }
}
