//! Logins MyInvois refused for good (issue 16): one row per client id while its logins are
//! halted. The row outlives the process, so a restart with unchanged credentials stays
//! halted, and every instance, `/ready`, the dashboard and `/metrics` read the same halt.
//! A halt beginning and ending each commit with their webhook delivery, so the ERP hears of
//! each exactly once, however many instances saw it.

use chrono::{DateTime, Utc};
use invois_clock::Clock;

use super::convert::{now, obo_from_db, obo_to_db};
use super::dialect::Sql;
use super::documents::records;
use super::outbox::enqueue_sql;
use super::{Db, NewWebhook, StoreError};

const HALT_COLS: &str = "client_id, fingerprint, on_behalf_of, token_url, status, \
     correlation_id, body, halted_at, refused_at, retry_at, refusals";

/// A client id whose logins are halted, as stored. Never holds a secret: the fingerprint is
/// a one-way digest, and the body is the identity service's refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginHaltRecord {
    /// The client id.
    pub client_id: String,
    /// The login configuration refused (`invois_client::Client::login_fingerprint`).
    pub fingerprint: String,
    /// The `onbehalfof` the refused login sent.
    pub on_behalf_of: Option<String>,
    /// Where the refused login went.
    pub token_url: String,
    /// The HTTP status of the refusal.
    pub status: u16,
    /// Its `correlationId`, to quote to LHDN.
    pub correlation_id: Option<String>,
    /// Its body (an RFC 6749 error).
    pub body: String,
    /// The first refusal of this run of refusals.
    pub halted_at: DateTime<Utc>,
    /// The latest refusal.
    pub refused_at: DateTime<Utc>,
    /// The soonest a login is sent again unattended.
    pub retry_at: DateTime<Utc>,
    /// Refused logins in a row.
    pub refusals: i64,
}

#[derive(sqlx::FromRow)]
struct HaltRow {
    client_id: String,
    fingerprint: String,
    on_behalf_of: String,
    token_url: String,
    status: i64,
    correlation_id: Option<String>,
    body: String,
    halted_at: DateTime<Utc>,
    refused_at: DateTime<Utc>,
    retry_at: DateTime<Utc>,
    refusals: i64,
}

impl TryFrom<HaltRow> for LoginHaltRecord {
    type Error = StoreError;

    fn try_from(row: HaltRow) -> Result<LoginHaltRecord, StoreError> {
        Ok(LoginHaltRecord {
            status: u16::try_from(row.status)
                .map_err(|_| StoreError::Corrupt(format!("login halt status {}", row.status)))?,
            client_id: row.client_id,
            fingerprint: row.fingerprint,
            on_behalf_of: obo_from_db(row.on_behalf_of),
            token_url: row.token_url,
            correlation_id: row.correlation_id,
            body: row.body,
            halted_at: row.halted_at,
            refused_at: row.refused_at,
            retry_at: row.retry_at,
            refusals: row.refusals,
        })
    }
}

/// Binds a halt's columns as `$1`..`$11`, in [`HALT_COLS`] order.
fn bind_halt<'a>(sql: Sql<'a>, halt: &'a LoginHaltRecord) -> Sql<'a> {
    sql.bind(&halt.client_id)
        .bind(&halt.fingerprint)
        .bind(obo_to_db(&halt.on_behalf_of))
        .bind(&halt.token_url)
        .bind(i64::from(halt.status))
        .bind(&halt.correlation_id)
        .bind(&halt.body)
        .bind(halt.halted_at)
        .bind(halt.refused_at)
        .bind(halt.retry_at)
        .bind(halt.refusals)
}

/// The login halts repository (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct LoginHalts<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
}

impl LoginHalts<'_> {
    /// The halt of `client_id`, if its logins are halted.
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, client_id: &str) -> Result<Option<LoginHaltRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {HALT_COLS} FROM login_halts WHERE client_id = $1"
        ))
        .bind(client_id);
        let row: Option<HaltRow> = self.db.reader().fetch_optional(sql).await?;
        row.map(LoginHaltRecord::try_from).transpose()
    }

    /// Every halt, by client id.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self) -> Result<Vec<LoginHaltRecord>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {HALT_COLS} FROM login_halts ORDER BY client_id"
        ));
        records::<HaltRow, _>(self.db.reader().fetch_all(sql).await?)
    }

    /// Records `halt` (replacing the client id's earlier one). When the client id was not
    /// halted before, `announce` is added to the webhook outbox in the same transaction.
    /// Returns whether the halt is new.
    ///
    /// The insert decides newness (`ON CONFLICT DO NOTHING`), so two instances recording the
    /// same refusal at once announce it once: the second waits for the first's row.
    #[tracing::instrument(skip_all)]
    pub async fn record(
        &self,
        halt: &LoginHaltRecord,
        announce: &NewWebhook,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        let insert = Sql::new(format!(
            "INSERT INTO login_halts ({HALT_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (client_id) DO NOTHING"
        ));
        let new = tx.conn().execute(bind_halt(insert, halt)).await? > 0;
        if new {
            tx.conn()
                .execute(enqueue_sql(announce, now(self.clock)))
                .await?;
        } else {
            let update = Sql::new(
                "UPDATE login_halts SET fingerprint = $2, on_behalf_of = $3, token_url = $4, \
                 status = $5, correlation_id = $6, body = $7, halted_at = $8, refused_at = $9, \
                 retry_at = $10, refusals = $11 WHERE client_id = $1",
            );
            tx.conn().execute(bind_halt(update, halt)).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Forgets the halt of `client_id` (its logins resumed, or its configuration changed).
    /// When there was one, `announce` is added to the webhook outbox in the same transaction.
    /// Returns whether there was one.
    #[tracing::instrument(skip_all)]
    pub async fn clear(&self, client_id: &str, announce: &NewWebhook) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        let cleared = tx
            .conn()
            .execute(Sql::new("DELETE FROM login_halts WHERE client_id = $1").bind(client_id))
            .await?
            > 0;
        if cleared {
            tx.conn()
                .execute(enqueue_sql(announce, now(self.clock)))
                .await?;
        }
        tx.commit().await?;
        Ok(cleared)
    }
}
