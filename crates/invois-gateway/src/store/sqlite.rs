//! The embedded store: one SQLite file in WAL mode.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use invois_clock::Clock;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError as OpenError;

/// The SQLite store. Writes go through a single connection, so every write (including a
/// claim) is serialised inside the process; reads use a separate small pool and never block
/// behind writes. Write transactions start with `BEGIN IMMEDIATE`, so they take the write lock
/// before reading and never have to upgrade a read snapshot (which WAL refuses with
/// `SQLITE_BUSY_SNAPSHOT`, without waiting): another process or store on the same file waits
/// up to the busy timeout instead of failing.
#[derive(Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    clock: Clock,
    path: String,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database a `sqlite:` URL names and runs the
    /// migrations.
    pub async fn open(url: &str, clock: Clock) -> Result<SqliteStore, OpenError> {
        let options = SqliteConnectOptions::from_str(url)?;
        SqliteStore::open_with(options, clock).await
    }

    /// Opens with explicit options (WAL, `create_if_missing`, foreign keys and a busy
    /// timeout are applied on top).
    pub async fn open_with(
        options: SqliteConnectOptions,
        clock: Clock,
    ) -> Result<SqliteStore, OpenError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode loses at most the last commits on power loss, never
            // consistency; a process crash (SIGKILL) loses nothing committed.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Documents and payloads are kilobytes to megabytes, so the default 2 MB page
            // cache keeps little: each transaction read its pages back from the OS. A larger
            // cache and memory-mapped reads keep the single writer's transactions short.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456");
        let path = options.get_filename().display().to_string();
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            write,
            read,
            clock,
            path,
        })
    }

    /// The raw pool, for tests and diagnostics that must look at the tables themselves.
    pub fn pool(&self) -> &SqlitePool {
        &self.write
    }
}

super::sql::store_impl!(
    super::SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    lock = "",
    begin = "BEGIN IMMEDIATE"
);
