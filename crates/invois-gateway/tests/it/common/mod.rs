//! Stores for tests that exercise more than the store, on the backends
//! [`invois_testkit::db`] hands out: SQLite in a temporary directory, and PostgreSQL (when
//! `TEST_DATABASE_URL` is set) in a schema of its own.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;

use invois_clock::Clock;
use invois_gateway::document_errors::{DocumentError, ErrorStage};
use invois_gateway::store::{Db, Store};
// Each test binary uses its own part of the harness.
#[allow(unused_imports)]
pub use invois_testkit::db::{PgConnectOptions, PgSchema, SqliteFile, pg_schema, with_pg_schema};

/// A SQLite store in a fresh temporary directory (kept alive by the returned guard).
pub async fn sqlite_store(clock: Clock) -> (Arc<Store>, SqliteFile) {
    let file = SqliteFile::new();
    let store = Store::open(&file.url(), clock).await.unwrap();
    (Arc::new(store), file)
}

/// A store on a PostgreSQL schema (`options` from [`with_pg_schema`] or
/// [`PgSchema::options`]); another call on the same options is another gateway instance.
pub async fn pg_store(options: PgConnectOptions, clock: Clock) -> Store {
    Store::new(Db::open_postgres(options).await.unwrap(), clock)
}

/// Runs `case` on a store's harness in its own task, closes the store (so dropping the
/// schema never waits on its connections), then re-raises the case's panic.
pub async fn run_then_close<H, F, Fut>(store: Store, harness: H, case: F)
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

/// A one-error list for tests that only need a document to carry some error.
pub fn errors(stage: ErrorStage, code: &str) -> Vec<DocumentError> {
    vec![DocumentError::new(
        stage,
        code,
        format!("test error {code}"),
    )]
}
