//! A rate budget shared by every gateway instance on one PostgreSQL database.
//!
//! LHDN counts requests per client id and endpoint class, whatever process sends them. Two
//! gateway instances using one client id must therefore draw from one budget, or together
//! they earn `429`s. [`PgRateBudget`] implements [`invois_client::RateBudget`] with the same
//! sliding-window semantics as [`invois_client::InProcessBudget`], kept in two tables
//! (migration `000003`):
//!
//! - `rate_budgets`: one row per (client id, class) holding the pause (`paused_until`). Every
//!   admission locks this row (`SELECT ... FOR UPDATE`, inserting it first if missing), so
//!   two processes never both take the last slot.
//! - `rate_grants`: the time of each admitted request still inside the window. The locked
//!   admission deletes the expired ones, counts the rest exactly, and inserts its own.
//!
//! All times are the caller's clock (`now` as passed in), never the database's, so scaled
//! and manually advanced clocks behave as they do in process. PostgreSQL keeps
//! microseconds: grant times and pauses are rounded *up* to the next microsecond, so a
//! rounding can only make a window or a pause end later, never admit more.
//!
//! SQLite has no shared budget: a single SQLite gateway uses the in-process budget
//! ([`crate::budget::for_database`] picks it, on the store's already-open [`Db`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use invois_client::{Admission, BudgetError, BudgetKey, Quota, RateBudget};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Db, redact_url};

/// A failure of the PostgreSQL budget: what it was doing, on which database (without any
/// password), and the database error.
#[derive(Debug, thiserror::Error)]
#[error("rate budget on {target}: {action} failed: {source}")]
pub struct PgBudgetFailure {
    /// `user@host:port/database`.
    pub target: String,
    /// What was attempted.
    pub action: &'static str,
    /// The database error.
    #[source]
    pub source: sqlx::Error,
}

/// A sliding-window rate budget in PostgreSQL, shared by processes (see the module docs).
/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct PgRateBudget {
    pool: PgPool,
    target: String,
}

impl fmt::Debug for PgRateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("PgRateBudget")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn target_of(options: &PgConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

/// The smallest microsecond-precision time not before `t`.
fn ceil_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = t.trunc_subsecs(6);
    if floor < t {
        floor
            .checked_add_signed(chrono::Duration::microseconds(1))
            .unwrap_or(floor)
    } else {
        floor
    }
}

fn chrono_span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `t + span`, or the last representable time (an absurd configured window must not panic).
fn after(t: DateTime<Utc>, span: chrono::Duration) -> DateTime<Utc> {
    t.checked_add_signed(span)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl PgRateBudget {
    /// A budget on an existing pool whose database already has the gateway's migrations
    /// (for example the store's, see [`PgRateBudget::from_db`]).
    pub fn new(pool: PgPool) -> PgRateBudget {
        let target = target_of(&pool.connect_options());
        PgRateBudget { pool, target }
    }

    /// A budget sharing the store's connection pool, when the store is on PostgreSQL (no
    /// second pool, no second migration run).
    pub fn from_db(db: &Db) -> Option<PgRateBudget> {
        db.pg_pool().cloned().map(PgRateBudget::new)
    }

    /// Connects to a `postgres://` URL with a pool of its own and runs the gateway's
    /// migrations (which create the budget tables). Errors name the database with its
    /// password redacted.
    pub async fn connect(url: &str) -> Result<PgRateBudget, BudgetError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            BudgetError(
                format!(
                    "rate budget: {} is not a usable PostgreSQL URL: {e}",
                    redact_url(url)
                )
                .into(),
            )
        })?;
        PgRateBudget::connect_with(options).await
    }

    /// Connects with explicit options (tests use this to set `search_path`) and runs the
    /// gateway's migrations.
    pub async fn connect_with(options: PgConnectOptions) -> Result<PgRateBudget, BudgetError> {
        let target = target_of(&options);
        let fail = |action, source| {
            BudgetError(Box::new(PgBudgetFailure {
                target: target.clone(),
                action,
                source,
            }))
        };
        let pool = PgPoolOptions::new()
            // Each admission holds a connection for one short transaction.
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| fail("connecting", e))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| fail("migrating", sqlx::Error::from(e)))?;
        Ok(PgRateBudget { pool, target })
    }

    /// This budget as the client builder takes it
    /// ([`invois_client::ClientBuilder::rate_budget`]).
    pub fn shared(self) -> Arc<dyn RateBudget> {
        Arc::new(self)
    }

    /// When `key` is paused until, if it has a pause recorded (an expired pause is cleared by
    /// the next admission for the key).
    pub async fn paused_until(
        &self,
        key: BudgetKey<'_>,
    ) -> Result<Option<DateTime<Utc>>, BudgetError> {
        let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
            "SELECT paused_until FROM rate_budgets WHERE client_id = $1 AND class = $2",
        )
        .bind(key.client_id)
        .bind(key.class.key())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.fail("reading a pause", e))?;
        Ok(row.and_then(|(p,)| p))
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn fail(&self, action: &'static str, source: sqlx::Error) -> BudgetError {
        BudgetError(Box::new(PgBudgetFailure {
            target: self.target.clone(),
            action,
            source,
        }))
    }

    async fn acquire(
        &self,
        key: BudgetKey<'_>,
        quota: Option<Quota>,
        now: DateTime<Utc>,
    ) -> Result<Admission, sqlx::Error> {
        let class = key.class.key();
        let mut tx = self.pool.begin().await?;
        let lock = "SELECT paused_until FROM rate_budgets \
                    WHERE client_id = $1 AND class = $2 FOR UPDATE";
        let mut row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(lock)
            .bind(key.client_id)
            .bind(class)
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_none() {
            // First use of the key: create its row (another process may be doing the same;
            // the loser's insert does nothing), then lock it.
            sqlx::query(
                "INSERT INTO rate_budgets (client_id, class) VALUES ($1, $2) \
                 ON CONFLICT (client_id, class) DO NOTHING",
            )
            .bind(key.client_id)
            .bind(class)
            .execute(&mut *tx)
            .await?;
            row = sqlx::query_as(lock)
                .bind(key.client_id)
                .bind(class)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let paused_until = row.and_then(|(p,)| p);
        if let Some(until) = paused_until {
            if until > now {
                tx.commit().await?;
                return Ok(Admission::WaitUntil(until));
            }
            // Expired: clear it, as the in-process budget does, so that a later (shorter)
            // pause is recorded as given.
            sqlx::query(
                "UPDATE rate_budgets SET paused_until = NULL \
                 WHERE client_id = $1 AND class = $2",
            )
            .bind(key.client_id)
            .bind(class)
            .execute(&mut *tx)
            .await?;
        }
        let Some(quota) = quota else {
            tx.commit().await?;
            return Ok(Admission::Granted);
        };
        let span = chrono_span(quota.window);
        // A grant at t leaves the window when t + span <= now.
        if let Some(cutoff) = now.checked_sub_signed(span) {
            sqlx::query(
                "DELETE FROM rate_grants WHERE client_id = $1 AND class = $2 \
                 AND granted_at <= $3",
            )
            .bind(key.client_id)
            .bind(class)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        }
        if quota.requests == 0 {
            // A zero budget admits nothing; ask again after a window.
            tx.commit().await?;
            return Ok(Admission::WaitUntil(after(now, span)));
        }
        let (count, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(granted_at) FROM rate_grants \
             WHERE client_id = $1 AND class = $2",
        )
        .bind(key.client_id)
        .bind(class)
        .fetch_one(&mut *tx)
        .await?;
        let admission = if count < i64::from(quota.requests) {
            sqlx::query(
                "INSERT INTO rate_grants (client_id, class, granted_at) VALUES ($1, $2, $3)",
            )
            .bind(key.client_id)
            .bind(class)
            .bind(ceil_micros(now))
            .execute(&mut *tx)
            .await?;
            Admission::Granted
        } else {
            Admission::WaitUntil(after(oldest.unwrap_or(now), span))
        };
        tx.commit().await?;
        Ok(admission)
    }
}

#[async_trait]
impl RateBudget for PgRateBudget {
    async fn try_acquire(
        &self,
        key: BudgetKey<'_>,
        quota: Option<Quota>,
        now: DateTime<Utc>,
    ) -> Result<Admission, BudgetError> {
        self.acquire(key, quota, now)
            .await
            .map_err(|e| self.fail("admitting a request", e))
    }

    async fn pause(&self, key: BudgetKey<'_>, until: DateTime<Utc>) -> Result<(), BudgetError> {
        // GREATEST ignores NULL: a pause only ever moves later.
        sqlx::query(
            "INSERT INTO rate_budgets (client_id, class, paused_until) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, class) DO UPDATE \
             SET paused_until = GREATEST(rate_budgets.paused_until, EXCLUDED.paused_until)",
        )
        .bind(key.client_id)
        .bind(key.class.key())
        .bind(ceil_micros(until))
        .execute(&self.pool)
        .await
        .map_err(|e| self.fail("recording a pause", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_up_to_microseconds_never_moves_earlier() {
        let t = DateTime::from_timestamp(1_700_000_000, 1_500).unwrap();
        let c = ceil_micros(t);
        assert!(c >= t);
        assert_eq!(c.timestamp_subsec_nanos(), 2_000);
        let exact = DateTime::from_timestamp(1_700_000_000, 3_000).unwrap();
        assert_eq!(ceil_micros(exact), exact);
        assert_eq!(
            ceil_micros(DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC.trunc_subsecs(6)
        );
        // An absurd window names the end of time instead of panicking.
        let huge = chrono_span(Duration::MAX);
        assert_eq!(after(t, huge), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            after(t, chrono::Duration::seconds(60)),
            t + chrono::Duration::seconds(60)
        );
    }

    #[tokio::test]
    async fn a_bad_url_is_refused_without_its_password() {
        let err = PgRateBudget::connect("postgres://app:s3cr3t@[::1/db")
            .await
            .unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}
