//! Databases for tests that run one case on every store backend: a SQLite file in a fresh
//! temporary directory (always), and a PostgreSQL schema of its own on `TEST_DATABASE_URL`
//! (when that is set; otherwise a visible `SKIPPED` line on stderr).
//!
//! This hands out locations only (a URL, connect options); the crate under test opens its
//! store on them, so the testkit never depends on the gateway.
//!
//! ```no_run
//! # async fn demo() {
//! let sqlite = invois_testkit::db::SqliteFile::new();
//! let _url = sqlite.url(); // sqlite:///tmp/.../invois.db
//! invois_testkit::db::with_pg_schema("my_case", |options| async move {
//!     // open the store with `options` (search_path is the case's own schema)
//!     let _ = options;
//! })
//! .await;
//! # }
//! ```

use std::future::Future;
use std::io::Write as _;
use std::str::FromStr;

use sqlx::Connection as _;
pub use sqlx::postgres::PgConnectOptions;

/// The variable naming the PostgreSQL server the PostgreSQL half of a suite runs on.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A SQLite database file in a fresh temporary directory, removed on drop.
#[derive(Debug)]
pub struct SqliteFile {
    dir: tempfile::TempDir,
}

impl SqliteFile {
    /// A new, empty location (the store creates the file).
    ///
    /// # Panics
    ///
    /// If no temporary directory can be made.
    pub fn new() -> SqliteFile {
        SqliteFile {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// `sqlite://DIR/invois.db`.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("invois.db").display())
    }

    /// The temporary directory (for files a test writes beside the database).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Default for SqliteFile {
    fn default() -> Self {
        SqliteFile::new()
    }
}

/// A PostgreSQL schema for one test case, with a random name; [`PgSchema::drop_schema`]
/// removes it. Cases run concurrently on one database because each has its own schema.
#[derive(Debug)]
pub struct PgSchema {
    url: String,
    schema: String,
    options: PgConnectOptions,
}

impl PgSchema {
    /// Connect options whose `search_path` is this schema.
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.schema
    }

    /// Drops the schema and everything in it.
    ///
    /// # Panics
    ///
    /// If the server cannot be reached or refuses.
    pub async fn drop_schema(self) {
        let mut admin = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&mut admin)
            .await
            .expect("drop the test schema");
    }
}

/// Prints `SKIPPED postgres::<name>` where the test harness does not capture it.
pub fn skipped(name: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED postgres::{name}: {TEST_DATABASE_URL} is not set"
    );
}

/// A schema of its own on `TEST_DATABASE_URL`, or `None` (and a visible SKIPPED line).
///
/// # Panics
///
/// If `TEST_DATABASE_URL` is set but unusable.
pub async fn pg_schema(name: &str) -> Option<PgSchema> {
    let Ok(url) = std::env::var(TEST_DATABASE_URL) else {
        skipped(name);
        return None;
    };
    let schema = format!("invois_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create the test schema");
    let options = PgConnectOptions::from_str(&url)
        .expect("TEST_DATABASE_URL is a PostgreSQL URL")
        .options([("search_path", schema.as_str())]);
    Some(PgSchema {
        url,
        schema,
        options,
    })
}

/// Runs `case` with connect options for a fresh schema on `TEST_DATABASE_URL` (or prints a
/// visible SKIPPED line and returns), then drops the schema, whatever the case did, and only
/// then re-raises the case's panic.
pub async fn with_pg_schema<F, Fut>(name: &str, case: F)
where
    F: FnOnce(PgConnectOptions) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(schema) = pg_schema(name).await else {
        return;
    };
    let outcome = tokio::spawn(case(schema.options())).await;
    schema.drop_schema().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
