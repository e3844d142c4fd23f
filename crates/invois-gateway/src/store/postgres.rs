//! The shared store: PostgreSQL, for several gateway instances.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use invois_clock::Clock;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::StoreError as OpenError;

/// The PostgreSQL store. Claims lock rows with `FOR UPDATE SKIP LOCKED`, so several gateway
/// instances share one queue without waiting on each other.
#[derive(Clone)]
pub struct PgStore {
    write: PgPool,
    read: PgPool,
    clock: Clock,
    target: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL itself: it may carry a password.
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to a `postgres://` URL and runs the migrations.
    pub async fn open(url: &str, clock: Clock) -> Result<PgStore, OpenError> {
        let options = PgConnectOptions::from_str(url)?;
        PgStore::open_with(options, clock).await
    }

    /// Connects with explicit options (tests use this to set `search_path`).
    pub async fn open_with(options: PgConnectOptions, clock: Clock) -> Result<PgStore, OpenError> {
        let target = format!(
            "{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(10)
            // Fail an unreachable server in seconds rather than hanging the start.
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            write: pool.clone(),
            read: pool,
            clock,
            target,
        })
    }

    /// The raw pool, for tests and diagnostics that must look at the tables themselves.
    pub fn pool(&self) -> &PgPool {
        &self.write
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        self.write.close().await;
    }
}

super::sql::store_impl!(
    super::PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    lock = " FOR UPDATE SKIP LOCKED",
    begin = "BEGIN"
);
