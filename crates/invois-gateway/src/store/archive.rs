//! The archive: documents issued outside the gateway (for example in the MyInvois portal),
//! recorded by [`crate::archive::backfill`] from Search Documents.

use chrono::{DateTime, Utc};
use invois_clock::Clock;

use super::convert::{clamp_limit, json_from_db, now, truncate};
use super::dialect::Sql;
use super::documents::records;
use super::external::{ExternalDocument, ExternalDocumentRecord, ExternalUpsert};
use super::{Db, StoreError};

/// An `external_documents` row as stored.
#[derive(sqlx::FromRow)]
struct ExternalRow {
    id: i64,
    uuid: String,
    submission_uid: String,
    long_id: Option<String>,
    internal_id: String,
    issuer_tin: String,
    issuer_name: Option<String>,
    receiver_id: Option<String>,
    receiver_name: Option<String>,
    type_name: String,
    type_version: String,
    status: String,
    issued_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    validated_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    total_sales: Option<String>,
    total_discount: Option<String>,
    net_amount: Option<String>,
    total: Option<String>,
    submission_channel: Option<String>,
    listing: String,
    first_seen_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ExternalRow> for ExternalDocumentRecord {
    type Error = StoreError;

    fn try_from(row: ExternalRow) -> Result<ExternalDocumentRecord, StoreError> {
        Ok(ExternalDocumentRecord {
            id: row.id,
            document: ExternalDocument {
                uuid: row.uuid,
                submission_uid: row.submission_uid,
                long_id: row.long_id,
                internal_id: row.internal_id,
                issuer_tin: row.issuer_tin,
                issuer_name: row.issuer_name,
                receiver_id: row.receiver_id,
                receiver_name: row.receiver_name,
                type_name: row.type_name,
                type_version: row.type_version,
                status: row.status,
                issued_at: row.issued_at,
                received_at: row.received_at,
                validated_at: row.validated_at,
                cancelled_at: row.cancelled_at,
                total_sales: row.total_sales,
                total_discount: row.total_discount,
                net_amount: row.net_amount,
                total: row.total,
                submission_channel: row.submission_channel,
                listing: json_from_db("external listing", &row.listing)?,
            },
            first_seen_at: row.first_seen_at,
            updated_at: row.updated_at,
        })
    }
}

/// The listing's columns after `uuid`, in the order [`bind_listing`] binds them.
const LISTING_COLS: [&str; 20] = [
    "submission_uid",
    "long_id",
    "internal_id",
    "issuer_tin",
    "issuer_name",
    "receiver_id",
    "receiver_name",
    "type_name",
    "type_version",
    "status",
    "issued_at",
    "received_at",
    "validated_at",
    "cancelled_at",
    "total_sales",
    "total_discount",
    "net_amount",
    "total",
    "submission_channel",
    "listing",
];

/// Binds the listing's values, in [`LISTING_COLS`] order.
fn bind_listing<'a>(sql: Sql<'a>, doc: &'a ExternalDocument, listing: &'a str) -> Sql<'a> {
    sql.bind(&doc.submission_uid)
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
        .bind(listing)
}

/// `UPDATE external_documents SET submission_uid = $1, ..., listing = $20, updated_at = $21
/// WHERE uuid = $22`.
fn update_sql() -> String {
    let sets: Vec<String> = LISTING_COLS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    format!(
        "UPDATE external_documents SET {}, updated_at = $21 WHERE uuid = $22",
        sets.join(", ")
    )
}

/// `INSERT INTO external_documents (uuid, submission_uid, ..., listing, first_seen_at,
/// updated_at) VALUES ($1, ..., $22, $22) ON CONFLICT (uuid) DO NOTHING`.
fn insert_sql() -> String {
    let params: Vec<String> = (1..=22).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO external_documents (uuid, {}, first_seen_at, updated_at) \
         VALUES ({}, $22) ON CONFLICT (uuid) DO NOTHING",
        LISTING_COLS.join(", "),
        params.join(", ")
    )
}

/// The archive repository.
#[derive(Debug, Clone, Copy)]
pub struct Archive<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
}

impl Archive<'_> {
    /// Records a document issued outside the gateway, by UUID: inserts it, updates it when
    /// its listing changed (a status change, say), or leaves it. A document whose UUID the
    /// gateway itself recorded in `documents` is not stored ([`ExternalUpsert::Own`]).
    #[tracing::instrument(skip_all)]
    pub async fn upsert(&self, doc: &ExternalDocument) -> Result<ExternalUpsert, StoreError> {
        let now = now(self.clock);
        let listing = doc.listing.to_string();
        let mut tx = self.db.begin().await?;
        let own = Sql::new("SELECT id FROM documents WHERE uuid = $1 LIMIT 1").bind(&doc.uuid);
        if tx.conn().exists(own).await? {
            return Ok(ExternalUpsert::Own);
        }
        let stored =
            Sql::new("SELECT listing FROM external_documents WHERE uuid = $1").bind(&doc.uuid);
        let stored: Option<(String,)> = tx.conn().fetch_optional(stored).await?;
        let outcome = match stored {
            Some((old,)) if old == listing => ExternalUpsert::Unchanged,
            Some(_) => {
                let sql = bind_listing(Sql::new(update_sql()), doc, &listing)
                    .bind(now)
                    .bind(&doc.uuid);
                tx.conn().execute(sql).await?;
                ExternalUpsert::Updated
            }
            None => {
                let sql =
                    bind_listing(Sql::new(insert_sql()).bind(&doc.uuid), doc, &listing).bind(now);
                if tx.conn().execute(sql).await? == 1 {
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

    /// External documents with ids greater than `after`, in id order (`limit` 0 means 100;
    /// capped at 1,000).
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ExternalDocumentRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT id, uuid, {}, first_seen_at, updated_at FROM external_documents \
             WHERE id > $1 ORDER BY id LIMIT $2",
            LISTING_COLS.join(", ")
        ))
        .bind(after)
        .bind(clamp_limit(limit, 100, 1_000));
        records::<ExternalRow, _>(self.db.reader().fetch_all(sql).await?)
    }
}
