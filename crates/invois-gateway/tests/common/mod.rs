//! Stores for tests that exercise more than the store: SQLite in a temporary directory, and
//! PostgreSQL (when `TEST_DATABASE_URL` is set) in a schema of its own.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use invois_clock::Clock;
use invois_gateway::store::{PgStore, SqliteStore, Store};
use sqlx::Connection as _;

/// A SQLite store in a fresh temporary directory (kept alive by the returned guard).
pub async fn sqlite_store(clock: Clock) -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("invois.db").display());
    let store = SqliteStore::open(&url, clock).await.unwrap();
    (Arc::new(store), dir)
}

/// A PostgreSQL schema for one test; `drop_schema` removes it.
pub struct PgSchema {
    url: String,
    schema: String,
    pub options: sqlx::postgres::PgConnectOptions,
}

impl PgSchema {
    /// Opens another store on the same schema (another gateway instance).
    pub async fn open(&self, clock: Clock) -> Arc<dyn Store> {
        Arc::new(
            PgStore::open_with(self.options.clone(), clock)
                .await
                .unwrap(),
        )
    }

    /// Drops the schema.
    pub async fn drop_schema(self) {
        let mut admin = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

/// A schema of its own on `TEST_DATABASE_URL`, or `None` (and a visible SKIPPED line).
pub async fn pg_schema(name: &str) -> Option<PgSchema> {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED postgres::{name}: TEST_DATABASE_URL is not set"
        );
        return None;
    };
    let schema = format!("invois_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Some(PgSchema {
        url,
        schema,
        options,
    })
}

/// Runs `case` with connect options for a fresh schema on `TEST_DATABASE_URL` (or prints a
/// visible SKIPPED line and returns), then drops the schema, whatever the case did, and only
/// then re-raises the case's panic. The one PostgreSQL harness every gateway test file uses.
pub async fn with_pg_schema<F, Fut>(name: &str, case: F)
where
    F: FnOnce(sqlx::postgres::PgConnectOptions) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(schema) = pg_schema(name).await else {
        return;
    };
    let outcome = tokio::spawn(case(schema.options.clone())).await;
    schema.drop_schema().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs `case` on a store's harness in its own task, closes the store (so dropping the
/// schema never waits on its connections), then re-raises the case's panic.
pub async fn run_then_close<H, F, Fut>(store: PgStore, harness: H, case: F)
where
    H: Send + 'static,
    F: FnOnce(H) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(case(harness)).await;
    store.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
